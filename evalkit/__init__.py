"""evalkit: evaluation and regression gate for pixel-art punk LoRAs.

The package follows the data's path, one folder per stage:
inspect -> render -> downsample -> score -> gate -> report -> sync.
`golden` holds the reference data access (golden punks, captions, prompts).
"""

__version__ = "0.1.0"
