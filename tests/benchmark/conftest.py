"""The models behind `make cost`, `make tune`, `make spike` and `make bench` (benchmark/), on
hand-computed cases and on the packaged templates they read."""
