"""The Slurm backend: arrays through submitit (:mod:`.arrays`, heavy), the node's side (:mod:`.node`),
one wait (:mod:`.executor`), Slurm's states (:mod:`.query`, :mod:`.states`) and the settings (:mod:`.fields`,
light: the plugin's config reads it at every Hydra start-up)."""
