import pytest
from sessionfixtures import scored_plate_store


@pytest.fixture
def store(db_path):
    """One plate, two inspections of six drops; a model calibrated to a 30% hit threshold; the later
    inspection scored (``sessionfixtures.scored_plate_store``). A test module may define its own."""
    s = scored_plate_store(db_path)
    yield s
    s.close()
