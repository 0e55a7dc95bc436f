export { default } from '@titans/eslint-config';
