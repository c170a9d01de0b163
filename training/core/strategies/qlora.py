"""qlora: LoRA on a 4-bit (NF4) quantised base (Dettmers et al. 2023). CUDA and bitsandbytes only."""
from training.core.strategies.lora import LoRA
from training.errors import DeviceError


class QLoRA(LoRA):
    name = "qlora"
    summary = "Base quantised to 4 bits and frozen; LoRA adapters train in bf16. CUDA GPUs only."
    when = "When the base does not fit in GPU memory for LoRA; slower per step than LoRA, similar quality."
    needs_cuda = True

    def check_available(self, device_type: str) -> None:
        if device_type != "cuda":
            raise DeviceError("qlora needs a CUDA GPU (bitsandbytes 4-bit kernels); this run's device has none. "
                              "Use lora (same adapters on an unquantised base) or run on a GPU machine.")
        try:
            import bitsandbytes  # noqa: F401
        except ImportError:
            raise DeviceError("qlora needs the bitsandbytes package: pip install bitsandbytes "
                              "(see requirements-gpu.txt)") from None

    def load_kwargs(self) -> dict:
        import torch
        from transformers import BitsAndBytesConfig

        return {"quantization_config": BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16)}

    def prepare(self, model) -> None:
        from peft import prepare_model_for_kbit_training

        model.backbone = prepare_model_for_kbit_training(model.backbone, use_gradient_checkpointing=False)
        super().prepare(model)
