"""An embedded cluster's stop waits for nothing it does not need: its master's web UI
stops serving at once, not at its serving loop's next poll."""

import threading

from minibig.ui.server import LiveSource, serve, stop_serving, url_of


def test_the_web_ui_stops_at_once_whatever_its_poll():
    server = serve(LiveSource(), "127.0.0.1", 0)
    serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 3600})
    serving.start()
    assert url_of(server).startswith("http://127.0.0.1:")
    stopping = threading.Thread(target=stop_serving, args=(server,))
    stopping.start()
    stopping.join(60)          # shutdown() alone would wait out the hour's poll
    serving.join(60)
    assert not stopping.is_alive() and not serving.is_alive()
    assert server.socket.fileno() == -1, "closed"
