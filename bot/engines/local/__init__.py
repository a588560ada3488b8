"""The built-in engine: the shipped U²-Net-p model where the background is busy, a classical matting path
(background model, GrabCut, guided filter) where it is plain, and garments without their wearer. No network."""

__all__ = ["engine", "garments", "masks", "matting", "model", "subject"]
