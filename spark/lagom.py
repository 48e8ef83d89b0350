#!/usr/bin/env python3
"""spark-submit entry: run a maggy-engine experiment on a Spark cluster.

    spark-submit [spark options] spark/lagom.py EXPERIMENT.lua [--workers N]
                 [--dir DIR] [--seed S] [--quiet] [--dashboard [HOST:]PORT]
    spark-submit [spark options] spark/lagom.py --resume DIR [--workers N]

Ship the training module with --py-files (or have it at the same path on
every node). Exit status: as maggy-engine's (0 finished, 1 failed, 130
interrupted; `--resume DIR` continues an interrupted experiment).
"""
import argparse
import os
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from maggy_spark import ExperimentFailed, lagom  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(prog="lagom.py", description=__doc__.splitlines()[0])
    ap.add_argument("experiment", nargs="?", help="the experiment's Lua script")
    ap.add_argument("--resume", metavar="DIR", help="continue the experiment in DIR")
    ap.add_argument("--workers", type=int, help="executor slots (default: the cluster's)")
    ap.add_argument("--dir", help="where the store and summary go")
    ap.add_argument("--seed", type=int)
    ap.add_argument("--quiet", action="store_true",
                    help="do not echo what the trials print (it is stored)")
    ap.add_argument("--dashboard", metavar="[HOST:]PORT",
                    help="serve the live dashboard there on the driver")
    args = ap.parse_args(argv)
    if bool(args.experiment) == bool(args.resume):
        ap.error("give EXPERIMENT.lua or --resume DIR")

    from pyspark.sql import SparkSession
    spark = SparkSession.builder.appName(
        "maggy-engine " + os.path.basename(args.experiment or args.resume)).getOrCreate()
    try:
        lagom(spark, args.experiment, workers=args.workers, dir=args.dir,
              resume=args.resume, seed=args.seed, quiet=args.quiet,
              dashboard=args.dashboard)
        return 0
    except ExperimentFailed as e:
        print(f"lagom: {e}", file=sys.stderr)
        return e.status or 1
    except KeyboardInterrupt as e:
        print(f"lagom: {e}", file=sys.stderr)
        return 130
    finally:
        spark.stop()


if __name__ == "__main__":
    sys.exit(main())
