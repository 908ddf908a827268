"""The Model menu goes through the registry: a model whose threshold or metrics are not numbers
(trained into NaN, registered by an older version) is not activated, and the window says why."""

import math

from xtalviewer.crystal_call import OperatingPoint
from xtalviewer.store.store import Store


def test_the_window_refuses_to_activate_a_model_trained_into_nan(plate_db, settings, open_window, tmp_path):
    with Store(plate_db) as s:
        (sound,) = [row["id"] for row in s.query("SELECT id FROM model WHERE active = 1")]
        broken = s.add_model(name="trained-into-nan", arch="resnet18", classes=s.scheme.keys, input_size=32,
                             path=str(tmp_path / "nan.pt"), metrics={"crystal_recall": 0.0, "loss": math.nan},
                             operating_point=OperatingPoint(threshold=math.nan, target_recall=0.99))
    w = open_window(plate_db, settings)
    w.activate_model(broken)
    message = w.statusBar().currentMessage()
    assert message.startswith(f"Not activated: model {broken} (trained-into-nan) cannot be activated"), message
    assert settings.default_model != broken
    with Store(plate_db) as s:
        assert s.query("SELECT id FROM model WHERE active = 1") == [{"id": sound}]
