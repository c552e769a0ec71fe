"""What people run: the Makefile's targets and arguments, the docs' links and targets, the
house's import directions, and the models behind `make cost`, `make tune`, `make spike` and
`make bench`, on hand-computed cases."""
