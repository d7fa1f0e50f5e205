"""The ``tinysr`` command line (also ``python -m tinysr``): one sub-command per task.

    tinysr upscale IN... -o OUT      upscale photos with a shipped network (or bicubic, or your weights)
    tinysr eval --data DIR           Y-PSNR / SSIM table (and a figure) with the published protocol
    tinysr train MODEL --out RUN     train srcnn, fsrcnn, espcn, srresnet or srgan (``tinysr train --help``)
    tinysr demo                      build a tiny network, gradcheck it, train it for a few steps
    tinysr serve                     a local web page: upscale a photo, look inside the network
    tinysr export MODEL -o FILE      a network as safetensors (PyTorch) or ONNX (phones, browsers)

Two files: ``parser.py`` defines each command's arguments, ``commands.py`` runs them (``main``).
"""

from tinysr.cli.commands import main
from tinysr.cli.parser import build_parser

__all__ = ["build_parser", "main"]
