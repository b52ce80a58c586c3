"""hydraflow's Hydra plugin (sweeper and launcher; SPEC 3).

Hydra imports every module of this package at start-up: keep imports light
and never raise anything but ImportError here.
"""
