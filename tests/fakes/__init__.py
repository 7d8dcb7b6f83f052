"""Fakes of the outside world, served over real HTTP on 127.0.0.1 for tests and scripts."""
