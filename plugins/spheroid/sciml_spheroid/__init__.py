"""sciml-spheroid: drug-efficacy ranking from bright-field images of 3D tumour spheroids.

Methodology 1 of B. Babu, "Determination of Drug Efficacy on Pancreatic Tumor 3D Spheroidal
Tissues" (Master thesis, THWS Würzburg-Schweinfurt, 2024): SimCLR representations, a
time-series model of untreated wells, and the deviation of treated wells as efficacy score.
"""

__version__ = "0.1.0"
