"""PyTorch's ``torch.autograd`` subset: Function, grad, backward, gradcheck, detect_anomaly."""

from .anomaly import detect_anomaly, is_anomaly_enabled, set_detect_anomaly
from .function import Function, FunctionCtx
from .functional import backward, grad
from .gradcheck import GradcheckError, gradcheck, gradgradcheck

__all__ = ["Function", "FunctionCtx", "GradcheckError", "backward", "detect_anomaly", "grad",
           "gradcheck", "gradgradcheck", "is_anomaly_enabled", "set_detect_anomaly"]
