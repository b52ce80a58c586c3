"""One process at a time launches into a sweep: an exclusive claim file in ``.hydraflow/``.

A launch, a retry (and the app it starts, which inherits the claim through
``HYDRAFLOW_CLAIM``) takes the claim before it records an attempt; a second
one while the first is live is refused with who holds it. A claim left by a
process that is gone (killed) is taken over: it is first renamed aside, which
only one taker can do, so two takers never both win.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any, Dict, Iterator, Optional

from hydraflow_core.errors import UsageError
from hydraflow_core.manifest.files import HOST, manifest_dir, process_alive, process_start

ENV = "HYDRAFLOW_CLAIM"
NAME = "claim.json"


class Claim:
    def __init__(self, path: Path, token: str, owned: bool) -> None:
        self.path, self.token, self.owned = path, token, owned

    @classmethod
    def take(cls, sweep_dir: os.PathLike) -> "Claim":
        """The sweep's claim for this process (or the one its parent holds for it); UsageError if held."""
        directory = manifest_dir(sweep_dir)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / NAME
        inherited = os.environ.get(ENV)
        for _ in range(3):
            holder = _read(path)
            if holder is not None and inherited and holder.get("token") == inherited:
                return cls(path, inherited, owned=False)  # our parent (hydraflow retry) holds it for us
            if holder is not None:
                if process_alive(holder.get("host"), holder.get("pid"), holder.get("pid_start")) is not False:
                    raise UsageError(
                        f"{sweep_dir} is being launched into by pid {holder.get('pid')} on {holder.get('host')} "
                        f"(since {time.strftime('%H:%M:%S', time.localtime(holder.get('time', 0)))}); wait for it "
                        f"to end (hydraflow status --watch), or stop it first")
                stale = path.with_name(f"{NAME}.stale-{os.getpid()}")
                with contextlib.suppress(FileNotFoundError):
                    os.rename(path, stale)  # only one taker renames it; the others find it gone
                    stale.unlink()
            token = uuid.uuid4().hex
            record = {"token": token, "host": HOST, "pid": os.getpid(), "pid_start": process_start(os.getpid()),
                      "time": time.time()}
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                continue  # another taker was faster: look at its claim
            with os.fdopen(fd, "w") as out:
                out.write(json.dumps(record) + "\n")
            return cls(path, token, owned=True)
        raise UsageError(f"{sweep_dir}: could not claim the sweep (another launch keeps taking it)")

    @classmethod
    @contextlib.contextmanager
    def held(cls, sweep_dir: os.PathLike) -> Iterator["Claim"]:
        claim = cls.take(sweep_dir)
        try:
            yield claim
        finally:
            claim.release()

    def release(self) -> None:
        if not self.owned:
            return
        holder = _read(self.path)
        if holder is not None and holder.get("token") == self.token:
            with contextlib.suppress(OSError):
                self.path.unlink()
        self.owned = False

    def environment(self) -> Dict[str, str]:
        """What a child started to launch for this claim's holder needs to share it."""
        return {ENV: self.token}


def _read(path: Path) -> Optional[Dict[str, Any]]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError:
        return {}
    try:
        return json.loads(text)
    except ValueError:  # being written this instant: its writer is alive
        return {"host": HOST, "pid": None}
