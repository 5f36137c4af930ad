from pathlib import Path

import pytest

from reelmine.errors import ConfigError
from reelmine.settings import Settings


def test_defaults_then_toml_then_env_then_overrides(tmp_path: Path) -> None:
    cfg = tmp_path / "reelmine.toml"
    cfg.write_text('[reelmine]\ndb = "from-toml.duckdb"\nmin_group_size = 20\nbatch_rows = 5\n')
    env = {"REELMINE_DB": "from-env.duckdb", "REELMINE_MIN_GROUP_SIZE": "15"}
    s = Settings.load(config_file=cfg, environ=env, batch_rows=7)
    assert s.db == Path("from-env.duckdb")  # env beats TOML
    assert s.min_group_size == 15
    assert s.batch_rows == 7  # explicit override beats everything
    assert Settings.load(environ={}).db == Path("reelmine.duckdb")


def test_config_file_from_environment(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[reelmine]\nengine = "spark"\n')
    assert Settings.load(environ={"REELMINE_CONFIG": str(cfg)}).engine == "spark"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"REELMINE_ENGINE": "oracle"}, "engine must be"),
        ({"REELMINE_MIN_GROUP_SIZE": "0"}, "min_group_size"),
        ({"REELMINE_BATCH_ROWS": "many"}, "batch_rows"),
    ],
)
def test_bad_settings_say_which(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.load(environ=env)


def test_unknown_setting_in_toml_is_named(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[reelmine]\ncolour = 3\n")
    with pytest.raises(ConfigError, match="unknown setting 'colour'"):
        Settings.load(config_file=cfg, environ={})


def test_secret_not_in_repr() -> None:
    assert "hunter2" not in repr(Settings.load(environ={"REELMINE_SECRET": "hunter2"}))
