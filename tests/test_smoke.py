from tidscope.clone import Children


def test_children_report_own_tids() -> None:
    with Children(2) as ch:
        assert len(set(ch.tids)) == 2
