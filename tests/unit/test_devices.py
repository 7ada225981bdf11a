"""Device names: validity and the natural, root-first restore order."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vss_restore.devices import (
    WINDOWS_ROOT_DEVICE,
    device_key,
    is_valid_device,
    restore_order,
)

# --- restore_order ---------------------------------------------------------------------------


def test_restore_order_puts_root_first_when_root_is_listed_last() -> None:
    # GIVEN
    devices = ["xvdf", "xvdb", "/dev/sda1"]

    # WHEN
    ordered = restore_order(devices)

    # THEN
    assert ordered == ["/dev/sda1", "xvdb", "xvdf"]


def test_restore_order_sorts_naturally_when_two_letter_suffixes_present() -> None:
    # GIVEN devices whose plain string order would put xvdaa before xvdb
    devices = ["xvdab", "xvdz", "xvdaa", "xvdf", "xvdb"]

    # WHEN
    ordered = restore_order(devices)

    # THEN shorter suffixes first
    assert ordered == ["xvdb", "xvdf", "xvdz", "xvdaa", "xvdab"]


def test_restore_order_sorts_naturally_when_root_and_two_letter_suffixes_mixed() -> None:
    # GIVEN
    devices = ["xvdaa", "xvdz", "/dev/sda1", "xvdab", "xvdb", "xvdf"]

    # WHEN
    ordered = restore_order(devices)

    # THEN
    assert ordered == ["/dev/sda1", "xvdb", "xvdf", "xvdz", "xvdaa", "xvdab"]


def test_restore_order_sorts_sd_style_names_when_given_with_dev_prefix() -> None:
    # GIVEN /dev/sdX data devices
    devices = ["/dev/sdg", "/dev/sdf", "/dev/sda1", "/dev/sdba", "/dev/sdz"]

    # WHEN
    ordered = restore_order(devices)

    # THEN
    assert ordered == ["/dev/sda1", "/dev/sdf", "/dev/sdg", "/dev/sdz", "/dev/sdba"]


def test_restore_order_sorts_partition_numbers_numerically_when_present() -> None:
    # GIVEN numbered device names
    devices = ["/dev/sdb10", "/dev/sdb2", "/dev/sdb1", "/dev/sdb"]

    # WHEN
    ordered = restore_order(devices)

    # THEN
    assert ordered == ["/dev/sdb", "/dev/sdb1", "/dev/sdb2", "/dev/sdb10"]


def test_restore_order_removes_duplicates_when_a_device_repeats() -> None:
    # GIVEN
    devices = ["xvdf", "/dev/sda1", "xvdf", "xvdb", "/dev/sda1"]

    # WHEN
    ordered = restore_order(devices)

    # THEN
    assert ordered == ["/dev/sda1", "xvdb", "xvdf"]


def test_restore_order_uses_custom_root_when_given() -> None:
    # GIVEN a Linux-style root device and /dev/sda1 as an ordinary device
    devices = ["xvdc", "/dev/sda1", "xvdb", "/dev/xvda"]

    # WHEN
    ordered = restore_order(devices, root_device="/dev/xvda")

    # THEN
    assert ordered == ["/dev/xvda", "/dev/sda1", "xvdb", "xvdc"]


def test_restore_order_recognises_root_when_written_without_dev_prefix() -> None:
    # GIVEN the root device written as "sda1"
    devices = ["xvdb", "sda1"]

    # WHEN
    ordered = restore_order(devices)

    # THEN
    assert ordered == ["sda1", "xvdb"]


def test_restore_order_returns_empty_list_when_no_devices() -> None:
    # GIVEN / WHEN
    ordered = restore_order([])

    # THEN
    assert ordered == []


def test_restore_order_accepts_any_iterable_when_given_a_generator() -> None:
    # GIVEN a one-shot iterable
    devices = (d for d in ["xvdc", "/dev/sda1"])

    # WHEN
    ordered = restore_order(devices)

    # THEN
    assert ordered == ["/dev/sda1", "xvdc"]


# --- is_valid_device -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "/dev/sda1",
        "/dev/sdf",
        "sdf",
        "/dev/sdba",
        "xvdb",
        "xvdz",
        "xvdaa",
        "/dev/xvdf",
        "/dev/xvda",
        "xvdf1",
    ],
)
def test_is_valid_device_returns_true_when_name_is_an_ebs_device(name: str) -> None:
    # GIVEN a device name EC2 accepts (name)

    # WHEN
    valid = is_valid_device(name)

    # THEN
    assert valid is True


@pytest.mark.parametrize(
    "name",
    [
        "",
        "/dev/",
        "xvd",
        "hda",
        "/dev/hdb",
        "/dev/nvme0n1",
        "nvme1n1",
        "xvdabc",
        "/dev/sda123",
        "XVDF",
        "/DEV/sdf",
        " xvdf",
        "xvdf ",
        "dev/sdf",
        "/dev//sdf",
        "/dev/xvdf/",
        "C:",
        "xvd1",
    ],
)
def test_is_valid_device_returns_false_when_name_is_not_an_ebs_device(name: str) -> None:
    # GIVEN a malformed or non-EBS device name (name)

    # WHEN
    valid = is_valid_device(name)

    # THEN
    assert valid is False


@pytest.mark.parametrize("name", ["xvdf\n", "/dev/sda1\n"])
def test_is_valid_device_returns_false_when_name_ends_with_newline(name: str) -> None:
    # GIVEN a valid name followed by a line break (``$`` also matches before a final newline)

    # WHEN
    valid = is_valid_device(name)

    # THEN
    assert valid is False


def test_device_key_strips_dev_prefix_when_present() -> None:
    # GIVEN / WHEN
    keys = (device_key("/dev/sdf"), device_key("sdf"), device_key("xvdb"))

    # THEN
    assert keys == ("sdf", "sdf", "xvdb")


# --- property --------------------------------------------------------------------------------

_letters = st.sampled_from("abcdefghijklmnopqrstuvwxyz")
_device_names = st.one_of(
    st.just(WINDOWS_ROOT_DEVICE),
    st.builds(lambda a: f"xvd{a}", _letters),
    st.builds(lambda a, b: f"xvd{a}{b}", _letters, _letters),
    st.builds(lambda a: f"/dev/sd{a}", _letters),
)


@settings(max_examples=200, deadline=None)
@given(devices=st.lists(_device_names, max_size=12))
def test_restore_order_is_root_first_permutation_and_idempotent_when_devices_are_random(
    devices: list[str],
) -> None:
    # GIVEN random valid device names, possibly repeated
    unique = list(dict.fromkeys(devices))

    # WHEN
    ordered = restore_order(devices)

    # THEN a permutation of the unique input
    assert sorted(ordered) == sorted(unique)
    assert len(ordered) == len(set(ordered))
    # root first when present
    if WINDOWS_ROOT_DEVICE in unique:
        assert ordered[0] == WINDOWS_ROOT_DEVICE
    # sorting again (or sorting a shuffled copy) changes nothing
    assert restore_order(ordered) == ordered
    assert restore_order(list(reversed(unique))) == ordered
    # among xvd names, shorter suffixes come first
    xvd = [d for d in ordered if d.startswith("xvd")]
    assert [len(d) for d in xvd] == sorted(len(d) for d in xvd)
