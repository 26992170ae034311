# LoRA fine-tuning (src/train, qwen3 finetune): the training pass's loss and LoRA gradients against the float64
# NumPy reference with its own backward pass (tools/reference/lora_train_ref.py, itself checked against finite
# differences: train_reference_self_check), the data rendering and loss masks, the PEFT adapter format, and
# the command end to end (learning, bad input) on the synthetic models.
add_test(NAME train_reference_self_check
  COMMAND ${QWEN3_PYTHON} ${CMAKE_SOURCE_DIR}/tools/reference/lora_train_ref.py --self-check)
set_tests_properties(train_reference_self_check PROPERTIES TIMEOUT 60)
qwen3_add_test_binary(train_tests ${CMAKE_CURRENT_SOURCE_DIR}/train/*_test.cpp FIXTURES model_data)
