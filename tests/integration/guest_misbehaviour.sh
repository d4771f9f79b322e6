# shellcheck shell=bash
# Sourced by kvm_tests.sh: a guest that drives minivmm's devices wrongly on
# purpose. minivmm must keep running, and the device must work again after
# the guest resets it. Each test adds itself to all_tests.
