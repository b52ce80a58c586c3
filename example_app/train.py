"""A small Hydra app to try hydraflow on: `python train.py -m 'learning_rate=1m:3m' model=small,large`."""

import json
import logging
import os
import time
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def train(cfg: DictConfig) -> float:
    started_at = time.time()
    time.sleep(cfg.sleep)
    if cfg.crash:  # the whole process dies, as with a segfault or the OOM killer
        os._exit(3)
    if cfg.fail:
        raise RuntimeError(f"failing on purpose (fail={cfg.fail})")
    # A stand-in for training: a deterministic "loss" from the settings.
    loss = cfg.model.width * cfg.learning_rate + cfg.seed * 1e-3
    out = Path(HydraConfig.get().runtime.output_dir)
    where = {"pid": os.getpid(), "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
             "started_at": started_at}
    log.info("model=%s learning_rate=%s optimizer=%s loss=%.6f", cfg.model.name, cfg.learning_rate, cfg.optimizer, loss)
    (out / "result.json").write_text(json.dumps({"loss": loss, "cfg": OmegaConf.to_container(cfg), **where}))
    return loss  # the result is written last: a run with result.json has finished


if __name__ == "__main__":
    train()
