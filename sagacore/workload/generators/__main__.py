"""``python -m sagacore.workload.generators fit|report``: see :mod:`.calibration`."""

from sagacore.workload.generators.calibration import main

if __name__ == "__main__":
    raise SystemExit(main())
