"""Starling's built-in packet engine: pcap/pcapng bytes or live frames in, the
same records the Zeek log parser produces out (sans-IO; see `engine`)."""

from detection.packets.capture import CaptureReader
from detection.packets.decode import DecodeError
from detection.packets.engine import PacketEngine, Timeouts

__all__ = ["CaptureReader", "DecodeError", "PacketEngine", "Timeouts"]
