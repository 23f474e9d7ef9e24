"""`paths.atomic_write` from several writers at once (the attack's gate --report beside `evalkit report`)."""

from concurrent.futures import ThreadPoolExecutor

from evalkit.paths import atomic_write_text


def test_concurrent_writers_of_one_file_all_succeed_and_leave_one_whole_file(tmp_path):
    target = tmp_path / "index_files" / "timeline.svg"
    texts = [f"<svg>{i}</svg>" * 2000 for i in range(8)]
    with ThreadPoolExecutor(8) as pool:  # with one shared temporary name, some writers' renames found nothing
        list(pool.map(lambda t: atomic_write_text(target, t), texts * 25))
    assert target.read_text() in texts
    assert [p.name for p in target.parent.iterdir()] == ["timeline.svg"]  # no temporary file left behind
