"""Tests of tap-reviewrover."""
