"""The built-in engine: a classical matting path (background model, GrabCut, guided filter) and
an optional U²-Net-family ONNX model. No network."""

__all__ = ["engine", "matting", "model"]
