"""sciml-cgmap: coarse-grained mappings of molecules with a Gumbel-softmax auto-encoder.

Paper: "Variational autoencoders for coarse-grained mapping" (cgmap-vae-coarse-grained-mapping),
building on Wang & Gómez-Bombarelli, npj Comput. Mater. 5, 125 (2019).
"""

__version__ = "0.1.0"
