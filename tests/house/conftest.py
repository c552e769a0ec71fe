"""The house itself: the Makefile's targets and arguments, the docs as pages true to the tree,
and the directions of the imports."""
