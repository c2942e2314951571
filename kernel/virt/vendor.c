#include "kernel/virt/vendor.h"
#include "kernel/lib/fmt.h"

const struct vcpu_vendor *vendor;

/* Intel and AMD never both answer; the CPU's own word decides, so a missing feature is
 * reported for the vendor this machine actually has. */
bool vendor_select(const char **why)
{
    static char buf[160];
    const char *vmx_why = "", *svm_why = "";
    if (vmx_vendor.probe(&vmx_why)) {
        vendor = &vmx_vendor;
        return true;
    }
    if (svm_vendor.probe(&svm_why)) {
        vendor = &svm_vendor;
        return true;
    }
    ksnprintf(buf, sizeof buf, "VMX: %s; SVM: %s", vmx_why, svm_why);
    *why = buf;
    return false;
}
