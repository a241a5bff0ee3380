//! renkei-demo
