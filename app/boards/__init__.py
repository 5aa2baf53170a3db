"""Boards and seasons (SPEC §14): several boards, each ranked all-time and per period."""
