"""hydraflow's Hydra plugin (sweeper and launcher; SPEC 3), and the search path that makes the
launcher the default under HYDRAFLOW_DEFAULT_LAUNCHER=hydraflow (searchpath.py).

Hydra imports every module of this package at start-up: keep imports light
and never raise anything but ImportError here.
"""
