"""Reading and writing the user's files safely: regular files only, outputs written whole or not at all."""
