# shellcheck shell=bash
# Sourced by kvm_tests.sh: faults of the host side while a Linux guest runs
# (its TAP deleted, Open vSwitch restarted). Each test adds itself to all_tests.
