"""The core's own plugin, named ``sciml``: it registers the default trainer ``sciml:default``."""

from sciml.hookspecs import hookimpl


@hookimpl
def sciml_register_trainers(register):
    register("default", "sciml.training:DefaultTrainer",
             description="plain-torch loop: Adam/SGD, early stopping, checkpoints, AMP on CUDA")
