"""The bundled example data (the README's fit): data files only."""
