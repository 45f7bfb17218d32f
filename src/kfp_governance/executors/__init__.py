"""Executors: plain-Python steps. No kfp import; each takes paths and typed
arguments, writes files and returns a result object. Components call them."""
