"""Reading input files and committing output files."""
