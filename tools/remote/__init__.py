"""Remote experts: model backends served as Ray Serve deployments and called like local ones.

Nothing here imports Ray at module import time; install it with ``pip install visorch[ray]``.
"""
