# Run as a package (`python3 -m unittest` in clients/python): the modules import _support
# from this folder, as they do when discovered with `-s clients/python/tests`.
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
