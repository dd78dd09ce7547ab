"""The scratch-buffer pool shared by dequantize paths."""

import torch

from quantplan.runtime.kernels.buffers import clear_buffers, scratch


def test_buffer_from_inference_mode_writable_outside():
    clear_buffers()
    with torch.inference_mode():
        first = scratch((4, 8), torch.float32, torch.device("cpu"))
        first.fill_(1.0)

    reused = scratch((4, 8), torch.float32, torch.device("cpu"))
    reused.fill_(2.0)

    assert reused is first
    assert not reused.is_inference()
    assert torch.equal(reused, torch.full((4, 8), 2.0))
    clear_buffers()
