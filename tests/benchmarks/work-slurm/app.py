import hydra

@hydra.main(version_base="1.3", config_path=None, config_name=None)
def main(cfg):
    return cfg.get("x")

if __name__ == "__main__":
    main()
