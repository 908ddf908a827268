"""The store's read-only queries as ``Store`` methods: each is a plain function of queries.py,
count_queries.py, queries_io.py, over_time.py or
second_look.py whose first argument is the store, so callers
write ``store.review_queue(...)`` and SQL stays in those modules and store.py."""

from __future__ import annotations

from xtalviewer.store import count_queries, over_time, queries, queries_io, second_look


class QueryMethods:
    """Mixed into ``Store``; holds no state."""

    plate_by_barcode = queries.plate_by_barcode
    image_id_by_path = queries.image_id_by_path
    image_id_by_position = queries.image_id_by_position
    current_label = queries.current_label
    operating_point = queries.operating_point
    models = queries.models
    model = queries.model
    active_model = queries.active_model
    prediction = queries.prediction
    plates = queries.plates
    barcodes = queries.barcodes
    inspections = queries.inspections
    inspection = queries.inspection
    inspection_choices = queries.inspection_choices
    inspection_modes = queries.inspection_modes
    image = queries.image
    inspection_of_image = queries.inspection_of_image
    same_drop = queries.same_drop
    drop_modes = queries.drop_modes
    drop_images = queries.drop_images
    drop_course = queries.drop_course
    history = queries.history
    inherited_labels = queries.inherited_labels
    review_queue = queries.review_queue
    current_labels = queries.current_labels
    labelled_images = queries.labelled_images
    image_with_plate = queries.image_with_plate
    image_counts = queries.image_counts
    count_unreadable_labelled = queries.count_unreadable_labelled
    known_files = queries.known_files
    slot_paths = queries.slot_paths
    plate_summaries = count_queries.plate_summaries
    inspection_summaries = count_queries.inspection_summaries
    label_counts = count_queries.label_counts
    plate_label_counts = count_queries.plate_label_counts
    judged_label_count = count_queries.judged_label_count
    label_vs_prediction = count_queries.label_vs_prediction
    inspection_drops = count_queries.inspection_drops
    hit_counts = count_queries.hit_counts
    best_over_time = over_time.best_over_time
    ever_hit_counts = over_time.ever_hit_counts
    hit_list = over_time.hit_list
    flags = second_look.flags
    drop_history = second_look.drop_history
    reviewer_labels = second_look.reviewer_labels
    # what leaves the store: export, scoring work list, report facts, counts
    export_rows_raw = queries_io.export_rows_raw
    unscored_images = queries_io.unscored_images
    current_annotations = queries_io.current_annotations
    annotator_summary = queries_io.annotator_summary
    file_stats = queries_io.file_stats
    has_plates = queries_io.has_plates
    image_ids = queries_io.image_ids
    image_paths = queries_io.image_paths
    image_path_under = queries_io.image_path_under
    plate_ids = queries_io.plate_ids
    prediction_count = queries_io.prediction_count
