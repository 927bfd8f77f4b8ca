"""The hostile-input corpus, built in code (nothing big is committed).

``builders`` makes the nasty bytes (bombs, broken archives, broken mail, hostile text);
``cases`` registers one check per case (what the parser must do with it); ``run`` runs a group of
cases, each in a forked child with its own time bound and memory measurement, and prints one JSON
line per case for tests/test_hostile_inputs.py and docs/robustness.md.
"""
