"""sciml-ptrcnn: periodic-table representation + CNN for full-Heusler X2YZ compounds.

Paper: X. Zheng, P. Zheng, R.-Z. Zhang, "Machine learning material properties from the
periodic table using convolutional neural networks", Chem. Sci. 9, 8426 (2018).
"""

SCIML_API = "1"
