# Sourced by the scripts that run guests: which KVM this host offers, and
# so whether a guest runs here or inside scripts/kvm-in-qemu.sh's machine.
#
# kvm_native: /dev/kvm opens and the CPU does VT-x or AMD-V (vmx or svm in
#   /proc/cpuinfo; inside kvm-in-qemu.sh's machine, its emulated AMD SVM).
#   Then guests run here.
# Otherwise they run nested, and kvm_nested_why says why in one line:
#   - no /dev/kvm this user can open (tried with bash's `<>` on an fd of its
#     own, which would create a regular file were it missing: hence -c first);
#   - or /dev/kvm is PVM, a software hypervisor on a CPU without VT-x/AMD-V
#     (module kvm_pvm): its emulated mode runs a guest kernel, about a
#     thousand times slower, but not a Linux guest's user space (its SYSCALL
#     path is broken there), which the network tests and the guest of
#     scripts/boot-guest.sh need. minivmm itself still runs on PVM
#     (docs/architecture.md, "Hosts whose KVM is not hardware").
kvm_usable() { [ -c /dev/kvm ] && (exec 3<>/dev/kvm) 2>/dev/null; }
kvm_native() { kvm_usable && grep -qwE 'vmx|svm' /proc/cpuinfo; }
kvm_nested_why() {
	if kvm_usable && [ -d /sys/module/kvm_pvm ]; then
		echo "/dev/kvm here is PVM, a software hypervisor (no VT-x/AMD-V), whose emulated mode cannot run a Linux guest's user space"
	elif kvm_usable; then
		echo "/dev/kvm here is not VT-x/AMD-V (no vmx or svm in /proc/cpuinfo)"
	else
		echo "/dev/kvm is missing or unusable here"
	fi
}
