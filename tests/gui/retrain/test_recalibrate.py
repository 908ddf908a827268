from xtalviewer.crystal_call import OperatingPoint
from xtalviewer.gui.retrain.recalibrate import worth_suggesting


def test_recalibration_is_suggested_once_enough_crystals_are_labelled_and_not_yet_fitted_on():
    base = OperatingPoint(threshold=0.04, target_recall=0.99, val_crystals=150, fitted_on="the validation split (1152 drops)")
    assert not worth_suggesting("lab.db", 19, base)
    assert worth_suggesting("lab.db", 20, base)
    here = OperatingPoint(threshold=0.2, target_recall=0.99, val_crystals=25, fitted_on="80 labelled drops of lab.db (25 with crystals)")
    assert not worth_suggesting("lab.db", 30, here)  # fitted on these labels already
    assert worth_suggesting("lab.db", 50, here)  # twice as many crystals labelled since
    assert not worth_suggesting("lab.db", 50, None)
