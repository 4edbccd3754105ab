from sciml.testing import sciml_store  # noqa: F401  (fixture: temporary SCIML_HOME)
